from pharmcheck.cli import main

raise SystemExit(main())
