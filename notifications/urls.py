from rest_framework.routers import SimpleRouter

from notifications import api

router = SimpleRouter()
router.register("notifications", api.NotificationViewSet, basename="notification")
router.register("notification-channels", api.ChannelViewSet, basename="notification-channel")
router.register("notification-subscriptions", api.SubscriptionViewSet, basename="notification-subscription")
router.register("notification-deliveries", api.DeliveryViewSet, basename="notification-delivery")
urlpatterns = router.urls
