"""What the HTTP routes of every capability share, below the capabilities: the admin check,
a read session per request, and the store's one writer (see `serving.deps`).

The app that mounts the routes (`parcours.api`) is a front end above the capabilities; this
layer is what lets a capability's routes live with the capability without importing it.
"""
