"""Each role's home page: what a person should do next."""
