"""ICD-10-CM code sets and ICD-9-CM GEMs: reading CMS sources and loading them into the database."""
