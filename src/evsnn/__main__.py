from evsnn.cli import main

raise SystemExit(main())
