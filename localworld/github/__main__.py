from localworld.github.cli import main

raise SystemExit(main())
