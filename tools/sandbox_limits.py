"""Per-process limits set inside the sandbox, before any untrusted code runs. Standard library only.

Its source is prepended to the tool runner and to the launcher of tools.sandbox.run_isolated; it is never imported
by the server. They are set inside the sandbox's own user namespace on purpose: there RLIMIT_NPROC counts the
processes of this one execution, not those of every execution running as the same user.
"""

import resource

MB = 1024 * 1024


def apply_limits(limits: dict) -> None:
    """Set the limits named in `limits`; a missing or None entry (cpu_seconds of a long-lived server) stays open."""
    cpu, memory, files, processes = (limits.get(k) for k in ("cpu_seconds", "memory_mb", "file_mb", "processes"))
    wanted = [
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NOFILE, 256, 256),
        *([(resource.RLIMIT_CPU, int(cpu), int(cpu) + 1)] if cpu else []),
        *([(resource.RLIMIT_AS, int(memory) * MB, int(memory) * MB)] if memory else []),
        *([(resource.RLIMIT_FSIZE, int(files) * MB, int(files) * MB)] if files else []),
        *([(resource.RLIMIT_NPROC, int(processes), int(processes))] if processes else []),
    ]
    for which, soft, hard in wanted:
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            pass  # a platform without this limit (RLIMIT_AS on macOS); the timeout still applies
