from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.SignUpView.as_view(), name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("verify/", views.OtpGateView.as_view(), name="otp_gate"),
    path("verify/code/", views.OtpVerifyView.as_view(), name="otp_verify"),
    path("security/authenticator/", views.TotpSetupView.as_view(), name="totp_setup"),
    path("company/", views.CompanyProfileView.as_view(), name="company"),
    path("company/name/", views.CompanyRenameView.as_view(), name="company_rename"),
    path(
        "company/contact/<str:kind>/",
        views.ContactChangeStartView.as_view(),
        name="contact_change_start",
    ),
    path(
        "company/contact-change/<int:pk>/",
        views.ContactChangeConfirmView.as_view(),
        name="contact_change_confirm",
    ),
    path("company/users/", views.TeamView.as_view(), name="team"),
    path("company/users/<int:pk>/<str:action>/", views.MemberChangeView.as_view(), name="member_change"),
]
