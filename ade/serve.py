"""`python -m ade.serve [daphne's options] ade.asgi:application`: the daphne command, without twisted's TLS.

Engram's web servers speak plain HTTP behind a proxy that ends TLS (README, "A public instance"); twisted loads
pyOpenSSL and cryptography's bindings all the same when it can: ~90 ms and ~6 MiB of every start. For daphne's own
`ssl:` endpoints, run the `daphne` command instead.
"""

import gc

gc.disable()  # until start-up is over (ade.collect_from_now_on)

from ade import load_without  # noqa: E402

load_without("daphne.server", hidden="OpenSSL")

from daphne.cli import CommandLineInterface  # noqa: E402

if __name__ == "__main__":
    CommandLineInterface.entrypoint()
