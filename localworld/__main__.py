from localworld.cli import main

raise SystemExit(main())
