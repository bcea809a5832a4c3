"""User-facing errors: the CLI prints their message on one line and exits with status 2."""


class DndError(Exception):
    """A problem with the user's input (file, flag, directory) rather than a bug."""

    exit_code = 2
