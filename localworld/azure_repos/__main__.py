from localworld.azure_repos.server import main

raise SystemExit(main())
