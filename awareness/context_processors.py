from .selectors import my_awareness


def me(request) -> dict:
    """`me`: the signed-in user's awareness choices (invisible, read sharing, status)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"me": my_awareness(user)}
