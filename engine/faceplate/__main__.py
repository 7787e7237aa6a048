import sys

from faceplate.cli.main import main

sys.exit(main())
