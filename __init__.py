"""The helpdesk: a CALM flow assistant answers first, people take over.

The repository root is this package (``pip install .`` installs it as ``helpdesk``): import its parts
as ``from helpdesk.app import Helpdesk, create_app``. Nothing happens at import time.
"""
