from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
    path("new/", views.CreateView.as_view(), name="create"),
    path("<int:pk>/", views.LogView.as_view(), name="log"),
    path("<int:pk>/edit/", views.EditView.as_view(), name="edit"),
    path("<int:pk>/active/", views.ToggleView.as_view(), name="toggle"),
    path("<int:pk>/rotate/", views.RotateView.as_view(), name="rotate"),
    path("<int:pk>/delete/", views.DeleteView.as_view(), name="delete"),
    path("<int:pk>/test/", views.TestEventView.as_view(), name="test"),
    path("deliveries/<int:pk>/resend/", views.ResendView.as_view(), name="resend"),
]
