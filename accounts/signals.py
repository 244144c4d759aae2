"""Signal receivers for accounts (the invitation email on user creation lives here)."""
