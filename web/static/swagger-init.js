// Starts Swagger UI on /docs (web/templates/docs.html). A file, not an inline script, so
// that the page runs under the same Content-Security-Policy as every other page.
(function () {
  "use strict";
  const target = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: target.dataset.openapiUrl,
    domNode: target,
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
