"""The CLI's exit codes, one table for the commands that return them and the entry that maps errors.

0 success (for ``diff``: no changes), 1 error or invalid input, 2 usage (for ``diff``: changes
pending). ``apply --wait`` adds 3 (rollout failed or rolled back) and 4 (timeout), its
``Verdict``'s values. An interrupt exits 130, as a shell reports SIGINT.
"""

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130
