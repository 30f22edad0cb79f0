"""The command line: argument parsing and printing only; the work is done in app/ and the stages."""
