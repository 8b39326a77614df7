"""`python -m noarkpipe.cli`: the same as the `noarkpipe` command."""

from noarkpipe.cli import main

if __name__ == "__main__":
    main()
