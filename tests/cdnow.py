"""The CDNOW purchase logs that `lifetimes` ships (the data of Fader, Hardie & Lee 2005 and
Fader & Hardie 2013), imported through parcours's own import with the mapping beside this
file (tests/cdnow_sample.yaml, tests/cdnow_master.yaml).

The files are aligned with runs of spaces (and end lines with CRLF), which parcours's CSV reader
does not split: `as_csv` changes the separators to commas, and numbers each line (`line`, the
mapping's event id). The numbering is needed because the logs carry no transaction id and hold
identical lines that are separate purchases (21 in the sample), while parcours stores identical
records of one file as one event (exactly-once import): without an id, those purchases would be
lost. Every record otherwise stays the raw transaction; same-day purchases are merged by
parcours's purchase summary, not here.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import parcours

HERE = Path(__file__).parent
SAMPLE_COLUMNS = "master_id,id,date,cds,dollars"
"""CDNOW_sample.txt has no header; these are the names validation-data.md §2.1 gives."""


def raw_log(name: str = "CDNOW_sample.txt") -> Path:
    """The shipped file (lifetimes must be installed: it is a test and bench dependency)."""
    return Path(str(resources.files("lifetimes") / "datasets" / name))


def as_csv(raw: Path, target: Path) -> Path:
    """The whitespace-aligned log as comma-separated lines, each numbered (the master log's own
    header row kept; the sample gets its column names)."""
    lines = [",".join(line.split()) for line in raw.read_text().splitlines() if line.strip()]
    if lines[0].split(",")[0].isdigit():  # no header row
        lines.insert(0, SAMPLE_COLUMNS)
    lines = [f"line,{lines[0]}"] + [f"{n},{line}" for n, line in enumerate(lines[1:], 1)]
    target.write_text("\n".join(lines) + "\n")
    return target


def import_cdnow(p: parcours.Parcours, folder: Path, name: str = "CDNOW_sample.txt") -> int:
    """Import one CDNOW log into `p`'s store; the number of events stored."""
    data = as_csv(raw_log(name), folder / (Path(name).stem + ".csv"))
    mapping = HERE / f"cdnow_{Path(name).stem.split('_')[1]}.yaml"
    summary = p.import_file(data, source="cdnow", mapping=mapping)
    assert not summary.quarantined, summary.quarantined
    return int(summary.accepted)
