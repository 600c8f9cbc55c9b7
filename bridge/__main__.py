from sideman.bridge.cli import main
import sys
sys.exit(main())
