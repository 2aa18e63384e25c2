from dabench.cli import main

raise SystemExit(main())
