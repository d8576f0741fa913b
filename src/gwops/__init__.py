"""gwops: operations toolkit for a self-hosted LiteLLM gateway stack.

The core (everything outside `gwops.cli`) never prints and never exits: it returns results and
raises `gwops.errors.OpsError` subclasses. The click CLI in `gwops.cli` owns all output and exit
codes.
"""

__version__ = "0.1.0"
