"""Every write a user can make, whole: validate, store in one transaction, after commit publish
through the realtime outlet, then the secondary steps (notifications). Grouped by what they act
on; sockets, views, the admin, commands and tests all call these."""
