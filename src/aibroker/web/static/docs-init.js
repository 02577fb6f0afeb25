// Starts Swagger UI on /docs. A file, not an inline script, so the Content-Security-Policy needs no 'unsafe-inline'.
"use strict";
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
  deepLinking: true,
  validatorUrl: null, // the default asks validator.swagger.io: no calls outside the app
});
