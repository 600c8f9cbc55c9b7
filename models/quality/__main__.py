import sys

from sideman.models.quality.study import main

sys.exit(main())
