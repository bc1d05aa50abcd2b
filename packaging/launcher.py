"""Entry script of the PyInstaller bundle (packaging/perfdeck.spec): the same ``main`` as the
``perfdeck`` launcher a wheel installs."""

import sys

from perfdeck.cli import main

if __name__ == "__main__":
    sys.exit(main())
