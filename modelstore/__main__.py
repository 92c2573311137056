from modelstore.cli import main

raise SystemExit(main())
