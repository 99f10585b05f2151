"""The clinic's roles. Each is a Django group; a user's role is the group they belong to.

The groups and their model permissions are created by the data migrations in
``accounts/migrations/``; a change of permissions is a new migration. Which
records a role reaches is decided by the access policy, ``accounts.access``.
"""

ADMIN, DOCTOR, RECEPTIONIST, PATIENT = "admin", "doctor", "receptionist", "patient"
