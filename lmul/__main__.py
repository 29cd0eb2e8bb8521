import sys

from lmul.cli import main

sys.exit(main())
