"""Verifiable credentials: each certificate as an Open Badges 3.0 credential in VC-JWT form,
signed by its organisation (keys.py), with its status in the organisation's Bitstring Status
Lists (status_list.py); badges.py builds and signs them, views.py publishes the public side."""
