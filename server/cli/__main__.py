import sys

from cmdb.server.cli import main

sys.exit(main())
