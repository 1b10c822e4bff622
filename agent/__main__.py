"""``python -m cmdb.agent``: the light agent command (see ``cmdb.agent.cli``)."""

import sys

from cmdb.agent.cli import main

sys.exit(main())
