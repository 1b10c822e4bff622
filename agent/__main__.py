"""``python -m agent``: the light agent command (see ``agent.cli``)."""

import sys

from agent.cli import main

sys.exit(main())
