"""Sign-in, tokens and the current user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from accounts import login_limits
from accounts.models import ApiToken, Team
from accounts.permissions import is_admin, user_pk
from audit.services import record
from config.clientip import client_ip
from config.responses import FORBIDDEN, VALIDATION_ERROR, ErrorSerializer


class CredentialsSerializer(serializers.Serializer[Any]):
    username = serializers.CharField()
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    token_name = serializers.CharField(required=False, default="default", max_length=100)


class TeamSerializer(serializers.ModelSerializer[Team]):
    class Meta:
        model = Team
        fields = ["id", "name", "slug"]


class UserSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    username = serializers.CharField()
    is_admin = serializers.SerializerMethodField()
    teams = serializers.SerializerMethodField()

    def get_is_admin(self, user: Any) -> bool:
        return is_admin(user)

    @extend_schema_field(TeamSerializer(many=True))
    def get_teams(self, user: Any) -> Any:
        return TeamSerializer(Team.objects.filter(memberships__user=user).order_by("memberships__id"), many=True).data


class TokenSerializer(serializers.ModelSerializer[ApiToken]):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "key_prefix", "created_at", "last_used_at", "expires_at"]


class TokenIssuedSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="The key: shown this once, send it as `Authorization: Token <key>`.")
    user = UserSerializer()


class SessionSerializer(serializers.Serializer[Any]):
    """The signed-in user's fields when ``authenticated``, else only ``authenticated``."""

    authenticated = serializers.BooleanField()
    id = serializers.IntegerField(required=False)
    username = serializers.CharField(required=False)
    is_admin = serializers.BooleanField(required=False)
    teams = TeamSerializer(many=True, required=False)


# 400: a missing field, or {"detail": ...} for wrong credentials; 429: too many attempts
# (a lockout, with Retry-After); 403 (session sign-in): no CSRF token.
_SIGN_IN_ERRORS = {400: VALIDATION_ERROR, 429: ErrorSerializer}


class LoginThrottle(AnonRateThrottle):
    """A rate on top of the lockouts, keyed by the real client address: DRF's own key
    believes any X-Forwarded-For."""

    rate = "30/min"

    def allow_request(self, request: Request, view: Any) -> bool:
        # "Who am I" (the web app asks on every load) is not a sign-in.
        return request.method != "POST" or super().allow_request(request, view)

    def get_ident(self, request: Request) -> str:
        return client_ip(request.META)


def _check_credentials(request: Request) -> Any:
    data = CredentialsSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    locked = login_limits.lockout(request, data.validated_data["username"])
    if locked is not None:
        raise exceptions.Throttled(wait=locked.retry_after, detail=locked.message)
    user = authenticate(request, username=data.validated_data["username"], password=data.validated_data["password"])
    if user is None or not user.is_active:
        return None, data
    return user, data


class ObtainTokenView(APIView):
    """POST username + password → a new API token (shown once)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(request=CredentialsSerializer, responses={201: TokenIssuedSerializer, **_SIGN_IN_ERRORS})
    def post(self, request: Request) -> Response:
        user, data = _check_credentials(request)
        if user is None:
            return Response({"detail": "Invalid username or password."}, status=status.HTTP_400_BAD_REQUEST)
        token, key = ApiToken.issue(user, data.validated_data["token_name"])
        record("accounts.user.login", actor=user, obj=user, changes={"method": "token", "token": token.key_prefix})
        record("accounts.apitoken.created", actor=user, obj=token)
        return Response({"token": key, "user": UserSerializer(user).data}, status=status.HTTP_201_CREATED)


@method_decorator(ensure_csrf_cookie, name="dispatch")
class SessionView(APIView):
    """GET: who am I (sets the CSRF cookie). POST: sign in. DELETE: sign out."""

    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(responses=SessionSerializer)
    def get(self, request: Request) -> Response:
        # 200 either way: "not signed in" is an answer, not an error (browsers log 401s).
        if not request.user.is_authenticated:
            return Response({"authenticated": False})
        return Response({"authenticated": True, **UserSerializer(request.user).data})

    @extend_schema(request=CredentialsSerializer, responses={200: UserSerializer, 403: FORBIDDEN, **_SIGN_IN_ERRORS})
    def post(self, request: Request) -> Response:
        # Signing in sets a session cookie, so it needs the CSRF token like any cookie
        # write (login CSRF: a page elsewhere signing the browser in as someone else).
        # DRF checks CSRF for signed-in sessions only.
        SessionAuthentication().enforce_csrf(request)
        user, _ = _check_credentials(request)
        if user is None:
            return Response({"detail": "Invalid username or password."}, status=status.HTTP_400_BAD_REQUEST)
        login(request._request, user)  # the user_logged_in signal audits it
        return Response(UserSerializer(user).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request) -> Response:
        if request.user.is_authenticated:
            record("accounts.user.logout", actor=request.user, obj=request.user)
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100, help_text="What the token is for, e.g. 'laptop' or 'CI'.")


class TokenCreatedSerializer(TokenSerializer):
    key = serializers.CharField(read_only=True, help_text="Shown this once: `Authorization: Token <key>`.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]


class TokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet[ApiToken]):
    """The signed-in user's own API tokens (keys are never shown again)."""

    serializer_class = TokenSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self) -> Any:
        return ApiToken.objects.filter(user_id=user_pk(self.request)).order_by("-created_at")

    @extend_schema(request=TokenCreateSerializer, responses={201: TokenCreatedSerializer, 400: VALIDATION_ERROR})
    def create(self, request: Request) -> Response:
        """A new API token for the signed-in user (the settings page); its key is shown once."""
        incoming = TokenCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        token, key = ApiToken.issue(request.user, incoming.validated_data["name"].strip() or "default")
        record("accounts.apitoken.created", actor=request.user, obj=token, changes={"name": token.name})
        data = {**TokenSerializer(token).data, "key": key}
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiToken) -> None:
        record("accounts.apitoken.deleted", actor=self.request.user, object_repr=str(instance))
        instance.delete()


class TeamViewSet(viewsets.ReadOnlyModelViewSet[Team]):
    """Teams the user belongs to (admins: all)."""

    serializer_class = TeamSerializer

    def get_queryset(self) -> Any:
        if is_admin(self.request.user):
            return Team.objects.order_by("name")
        return Team.objects.filter(memberships__user_id=user_pk(self.request)).order_by("name")
