"""The web console at /console: server-rendered pages for governance, departments, consumers, citizens."""
