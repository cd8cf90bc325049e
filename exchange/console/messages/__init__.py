"""The console's message catalogues, one module per page (``ZH`` and ``EN`` dicts), merged by i18n."""
