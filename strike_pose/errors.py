"""The one error type for mistakes a user can make (bad file, bad value, missing weights, no GL).

Its message says what was wrong and what to do; the CLI prints it on one line and exits 2.
"""


class StrikePoseError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""
