"""The optional bind verb: ExtenderBindingArgs -> a pods/binding through the Kubernetes API ->
ExtenderBindingResult. A refused or failed binding is reported in the result's Error (HTTP 200,
as kube-scheduler expects), a malformed request is a 400."""

import logging
from collections.abc import Callable

from marl_alloc.serving.errors import RequestError, shown
from marl_alloc.serving.kube_api import KubeApi, KubeApiError
from marl_alloc.serving.metrics import ExtenderMetrics
from marl_alloc.serving.protocol import binding_result, encode, error_body, parse_binding_args

VERB = "bind"
logger = logging.getLogger(__name__)


class Binder:
    """Binds pods to the nodes kube-scheduler chose (see the module docstring)."""

    def __init__(
        self,
        api: KubeApi,
        metrics: ExtenderMetrics | None = None,
        bound: Callable[[str], None] | None = None,
    ):
        self.api = api
        self.metrics = metrics or ExtenderMetrics()
        self.bound = bound  # told the node of each pod bound (ExtenderService.pod_bound)

    def handle(self, body: bytes) -> tuple[int, bytes]:
        """(HTTP status, JSON body) of one bind call."""
        try:
            args = parse_binding_args(body)
        except RequestError as err:
            self.metrics.request(VERB, 400)
            return 400, encode(error_body(str(err)))
        pod = f"{shown(args.PodNamespace)}/{shown(args.PodName)}"
        error = ""
        try:
            self.api.bind(args.PodNamespace, args.PodName, args.PodUID, args.Node)
        except KubeApiError as err:
            error = f"binding {pod} to {shown(args.Node)}: {err}"
        except Exception as err:  # noqa: BLE001 - kube-scheduler reads Error; never a 500
            logger.exception("binding %s failed", pod)
            error = f"binding {pod} to {shown(args.Node)}: {type(err).__name__}: {err}"
        self.metrics.request(VERB, 200)
        self.metrics.binding(bound=not error)
        if not error and self.bound is not None:
            self.bound(args.Node)
        return 200, encode(binding_result(error))
