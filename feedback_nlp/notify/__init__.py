"""Owner notifications and the weekly digest: who hears what, rendered for Slack and e-mail, delivered
reliably through the outbox.

- :mod:`.config` reads ``notifications.yaml`` (owners' channels and the alert rules);
- :mod:`.digest` builds each owner's digest from the weekly report, :mod:`.render_slack` and
  :mod:`.render_email` render it;
- :mod:`.alerts` decides which scored feedback an owner hears about at once;
- :mod:`.outbox` owns the ``outbox`` table; :mod:`.sender` delivers from it through :mod:`.channels`.
"""
