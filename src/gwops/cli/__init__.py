"""The thin command line: wires click commands to the core and owns all output and exit codes."""
