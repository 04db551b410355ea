"""Reference data of the demo retailer, Ampère, a French home-electronics chain.

Names, towns, stores, products, campaigns and the texts customers and agents write. Everything
here is fixed: randomness lives in the generator, so changing a list changes the world for every
seed in the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

BRAND_HANDLE = "@ampere_fr"
SITE = "https://www.ampere.example"

FIRST_NAMES = (
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Emma",
    "Inès",
    "Jade",
    "Louise",
    "Sarah",
    "Zoé",
    "Hélène",
    "Nathalie",
    "Isabelle",
    "Sophie",
    "Céline",
    "Aurélie",
    "Julie",
    "Claire",
    "Monique",
    "Françoise",
    "Yasmine",
    "Fatima",
    "Amina",
    "Lucas",
    "Hugo",
    "Louis",
    "Nathan",
    "Gabriel",
    "Arthur",
    "Jules",
    "Thomas",
    "Nicolas",
    "Julien",
    "Maxime",
    "Antoine",
    "Pierre",
    "Jérôme",
    "François",
    "Stéphane",
    "Laurent",
    "Christophe",
    "Philippe",
    "Michel",
    "Alain",
    "Mehdi",
    "Karim",
    "Youssef",
    "Moussa",
    "Théo",
    "Raphaël",
)

LAST_NAMES = (
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Lefèvre",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Legrand",
    "Garnier",
    "Faure",
    "Rousseau",
    "Blanc",
    "Guérin",
    "Muller",
    "Henry",
    "Roussel",
    "Nicolas",
    "Perrin",
    "Morin",
    "Mathieu",
    "Clément",
    "Gauthier",
    "Dumont",
    "Lopez",
    "Fontaine",
    "Chevalier",
    "Robin",
    "N'Diaye",
    "Benali",
    "Nguyen",
    "Da Silva",
    "Le Gall",
    "Ferreira",
    "Haddad",
    "Lemoine",
    "Barbier",
    "Brunet",
)

STREETS = (
    "rue de la République",
    "avenue Jean Jaurès",
    "boulevard Victor Hugo",
    "rue Pasteur",
    "place de la Mairie",
    "rue des Lilas",
    "allée des Tilleuls",
    "rue du Général de Gaulle",
    "impasse des Acacias",
    "chemin des Vignes",
    "rue Émile Zola",
    "avenue de la Gare",
    "rue Jean Moulin",
    "boulevard Gambetta",
    "rue de la Paix",
    "rue du Moulin",
)


@dataclass(frozen=True)
class Town:
    postcode: str
    city: str
    store_id: str
    """The Ampère store its residents use: their own town's, or the nearest one."""


TOWNS = (
    Town("75011", "Paris", "S001"),
    Town("75015", "Paris", "S002"),
    Town("92100", "Boulogne-Billancourt", "S002"),
    Town("93200", "Saint-Denis", "S001"),
    Town("94000", "Créteil", "S003"),
    Town("69003", "Lyon", "S004"),
    Town("13008", "Marseille", "S005"),
    Town("31000", "Toulouse", "S006"),
    Town("06000", "Nice", "S007"),
    Town("44000", "Nantes", "S008"),
    Town("67000", "Strasbourg", "S009"),
    Town("34000", "Montpellier", "S010"),
    Town("33000", "Bordeaux", "S011"),
    Town("59000", "Lille", "S012"),
    Town("35000", "Rennes", "S013"),
    Town("51100", "Reims", "S014"),
    Town("38000", "Grenoble", "S015"),
    Town("21000", "Dijon", "S016"),
    Town("49000", "Angers", "S008"),
    Town("37000", "Tours", "S017"),
    Town("63000", "Clermont-Ferrand", "S018"),
    Town("83000", "Toulon", "S005"),
    Town("42000", "Saint-Étienne", "S004"),
    Town("76600", "Le Havre", "S019"),
    Town("57000", "Metz", "S009"),
    Town("29200", "Brest", "S013"),
    Town("64000", "Pau", "S011"),
    Town("80000", "Amiens", "S012"),
    Town("87000", "Limoges", "S018"),
    Town("25000", "Besançon", "S016"),
)

STORE_IDS = tuple(sorted({town.store_id for town in TOWNS}))


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    price: float


PRODUCTS = (
    Product("TV-OL55", "Téléviseur OLED 55 pouces 4K", "TV & Son", 1299.00),
    Product("TV-LD43", "Téléviseur LED 43 pouces", "TV & Son", 349.99),
    Product("TV-QL65", "Téléviseur QLED 65 pouces", "TV & Son", 899.00),
    Product("SB-300", "Barre de son Dolby Atmos", "TV & Son", 399.00),
    Product("HP-BT20", "Enceinte Bluetooth portable", "TV & Son", 79.99),
    Product("CQ-NC700", "Casque à réduction de bruit", "TV & Son", 249.00),
    Product("EC-TWS", "Écouteurs sans fil", "TV & Son", 129.00),
    Product("PC-UB14", "Ordinateur portable 14 pouces", "Informatique", 999.00),
    Product("PC-GM16", "PC portable gamer 16 pouces", "Informatique", 1499.00),
    Product("TB-11", "Tablette 11 pouces", "Informatique", 449.00),
    Product("IM-JET", "Imprimante multifonction", "Informatique", 89.99),
    Product("SR-27", "Écran 27 pouces QHD", "Informatique", 279.00),
    Product("SM-A55", "Smartphone 128 Go", "Téléphonie", 379.00),
    Product("SM-P15", "Smartphone premium 256 Go", "Téléphonie", 1099.00),
    Product("MW-S9", "Montre connectée", "Téléphonie", 299.00),
    Product("LL-8K", "Lave-linge 8 kg", "Électroménager", 549.00),
    Product("LV-14C", "Lave-vaisselle 14 couverts", "Électroménager", 499.00),
    Product("RF-CB", "Réfrigérateur combiné 340 L", "Électroménager", 749.00),
    Product("FO-MO", "Micro-ondes grill 25 L", "Électroménager", 129.00),
    Product("FR-AIR", "Friteuse sans huile", "Petit électroménager", 119.00),
    Product("CF-EX", "Machine à café expresso broyeur", "Petit électroménager", 449.00),
    Product("CF-CAP", "Machine à capsules", "Petit électroménager", 89.00),
    Product("AS-ROB", "Aspirateur robot", "Petit électroménager", 349.00),
    Product("AS-BAL", "Aspirateur balai sans fil", "Petit électroménager", 299.00),
    Product("BL-PRO", "Blender chauffant", "Petit électroménager", 159.00),
    Product("CN-NX", "Console de jeux portable", "Gaming", 329.00),
    Product("MA-PRO", "Manette sans fil", "Gaming", 69.99),
    Product("AP-HYB", "Appareil photo hybride", "Photo", 899.00),
)

ACCESSORIES = (
    Product("CA-USBC", "Câble USB-C 2 m", "Accessoires", 14.99),
    Product("CH-65W", "Chargeur rapide 65 W", "Accessoires", 39.99),
    Product("PI-AA", "Piles AA x8", "Accessoires", 8.99),
    Product("CM-SD", "Carte microSD 128 Go", "Accessoires", 19.99),
    Product("GA-2A", "Extension de garantie 2 ans", "Services", 49.00),
)

CATEGORY_SLUGS = {
    "TV & Son": "tv-son",
    "Informatique": "informatique",
    "Téléphonie": "telephonie",
    "Électroménager": "electromenager",
    "Petit électroménager": "petit-electromenager",
    "Gaming": "gaming",
    "Photo": "photo",
    "Accessoires": "accessoires",
    "Services": "services",
}

# (campaign code, month, day, hour UTC): the email plan of the year, newsletters and sales.
CAMPAIGNS = (
    ("2026-01-soldes-hiver", 1, 7, 8),
    ("2026-01-newsletter", 1, 22, 9),
    ("2026-02-saint-valentin", 2, 5, 9),
    ("2026-02-newsletter", 2, 19, 9),
    ("2026-03-printemps-maison", 3, 12, 8),
    ("2026-04-newsletter", 4, 9, 8),
    ("2026-04-french-days", 4, 29, 6),
    ("2026-05-fete-des-meres", 5, 21, 8),
    ("2026-06-fete-des-peres", 6, 11, 8),
    ("2026-06-soldes-ete", 6, 24, 6),
    ("2026-07-newsletter", 7, 16, 8),
    ("2026-08-rentree", 8, 20, 8),
    ("2026-09-newsletter", 9, 17, 8),
    ("2026-10-avant-black-friday", 10, 22, 7),
)

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
)

EMAIL_DOMAINS = (
    "gmail.com",
    "orange.fr",
    "free.fr",
    "hotmail.fr",
    "sfr.fr",
    "laposte.net",
    "yahoo.fr",
    "outlook.fr",
    "wanadoo.fr",
    "icloud.com",
)

CHAT_AGENTS = (
    "Léa B.",
    "Karim D.",
    "Sophie L.",
    "Hugo M.",
    "Inès R.",
    "Thomas G.",
    "Claire P.",
    "Mehdi A.",
    "Julie V.",
    "Antoine F.",
)
VIDEO_AGENTS = ("Nicolas T.", "Aurélie C.", "Yasmine K.", "Pierre S.")

INTENTS = ("order_status", "delivery", "billing", "technical_issue", "returns", "account")

INTENT_CODES = {
    "order_status": "ORD",
    "delivery": "DLV",
    "billing": "BIL",
    "technical_issue": "TEC",
    "returns": "RET",
    "account": "ACC",
}
INTENT_TOPICS = {
    "order_status": "Order status",
    "delivery": "Delivery",
    "billing": "Billing",
    "technical_issue": "Technical issue",
    "returns": "Returns",
    "account": "Account",
}
CALL_QUEUES = {
    "order_status": "Commandes",
    "delivery": "Livraison",
    "billing": "Facturation",
    "technical_issue": "Assistance technique",
    "returns": "Retours SAV",
    "account": "Compte client",
}

# What the customer says first, per intent. {order} and {product} are filled in.
PROBLEMS = {
    "order_status": (
        "Je n'ai aucune nouvelle de ma commande {order}, elle est toujours 'en préparation'.",
        "Où en est ma commande {order} ? Le suivi ne bouge plus depuis 3 jours.",
    ),
    "delivery": (
        "Le livreur n'est jamais passé pour ma commande {order} ({product}).",
        "Mon colis {order} est marqué livré mais je n'ai rien reçu.",
        "Le carton de ma commande {order} ({product}) est arrivé abîmé.",
    ),
    "billing": (
        "J'ai été débité deux fois pour la commande {order}.",
        "Je n'ai pas reçu la facture de ma commande {order} ({product}).",
        "Le montant prélevé ne correspond pas au prix affiché.",
    ),
    "technical_issue": (
        "Le produit « {product} » ne s'allume plus depuis hier.",
        "Le produit « {product} » se déconnecte du wifi sans arrêt.",
        "Écran noir après la mise à jour sur « {product} ».",
    ),
    "returns": (
        "Je voudrais retourner l'article « {product} », il ne me convient pas.",
        "J'ai renvoyé l'article « {product} » il y a deux semaines, toujours pas remboursé.",
    ),
    "account": (
        "Je n'arrive plus à me connecter à mon compte, le mot de passe est refusé.",
        "Je veux changer l'adresse mail de mon compte.",
    ),
}

ANSWERS = {
    "resolved": "C'est réglé de notre côté, vous recevrez une confirmation par mail.",
    "unresolved": "Je ne peux pas le régler aujourd'hui, je transmets au service concerné.",
    "escalated": "J'escalade votre demande à notre équipe N2 qui vous recontactera.",
    "transferred": "Je vous transfère vers un conseiller spécialisé.",
}

NOTES = {
    "resolved": "Demande traitée, client satisfait",
    "unresolved": "Pas de solution immédiate, ticket ouvert",
    "abandoned": "Appel raccroché avant prise en charge",
    "transferred": "Transfert vers N2",
}

# Social posts: a help request, a complaint after a failed contact, praise after a purchase.
HELP_POSTS = (
    "{brand} bonjour, {problem} Vous pouvez m'aider ?",
    "{brand} {problem} Merci de me répondre en MP.",
)
COMPLAINT_POSTS = (
    "{brand} {attempts}e contact et toujours rien. {problem} Service client inexistant 😡",
    "Franchement {brand} c'est honteux. {problem} Plus jamais chez vous.",
    "{brand} on m'a promis un rappel qui n'est jamais venu. {problem} #déçu",
)
PRAISE_POSTS = (
    "Super conseil chez {brand}, très content de mon achat ({product}) 👍",
    "Livré en 24 h, {product} nickel. Merci {brand} !",
    "Je recommande {brand} : équipe au top et bons conseils ({product}).",
)
SOCIAL_NETWORKS = ("twitter", "twitter", "instagram", "facebook")
