import sys

from strike_pose.cli import main

sys.exit(main())
