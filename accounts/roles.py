"""The clinic's roles. Each is a Django group; a user's role is the group they belong to.

The groups and their permissions are created by the data migration
``accounts/migrations/0001_roles.py``; a change of permissions is a new migration.
"""

ADMIN, DOCTOR, RECEPTIONIST = "admin", "doctor", "receptionist"
