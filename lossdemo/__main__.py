"""``python -m lossdemo``: the same command line as ``python -m lossdemo.reproduce`` (and ``lossdemo``)."""

from lossdemo.reproduce import main

if __name__ == "__main__":
    main()
