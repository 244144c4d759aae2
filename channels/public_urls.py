"""Public, login-free endpoints reached from messages: open pixel, click, unsubscribe."""

app_name = "public"

urlpatterns: list = []
