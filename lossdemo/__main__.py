"""``python -m lossdemo`` and the ``lossdemo`` command: the command line of ``python -m lossdemo.reproduce``.

The flags are checked before torch is imported, so a mistyped one fails at once.
"""

import sys

from lossdemo import cli_args


def main() -> None:
    cli_args.precheck(sys.argv[1:])
    from lossdemo.reproduce import main as reproduce_main

    reproduce_main()


if __name__ == "__main__":
    main()
