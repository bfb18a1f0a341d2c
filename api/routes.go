package api

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/storsthlm/utskick/store"
)

// routes lists every route on one screen.
func (s *Server) routes() {
	e := s.e
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metrics)

	// Public pages, reached from forms and mail.
	// Subscribe and confirm are limited per client IP (limitIP);
	// unsubscribe and preferences never are (see limitIP).
	e.GET("/subscribe", s.subscribeForm, s.limitIP) // ?lists=bus,senaste-nytt: several public lists
	e.POST("/subscribe", s.subscribeSubmit, s.limitIP)
	e.GET("/subscribe/:slug", s.subscribeForm, s.limitIP)
	e.POST("/subscribe/:slug", s.subscribeSubmit, s.limitIP)
	e.GET("/confirm/:token", s.confirm, s.limitIP)
	e.POST("/confirm/:token", s.confirmSubmit, s.limitIP)
	e.GET("/unsubscribe/:token", s.unsubscribePage)
	e.POST("/unsubscribe/:token", s.unsubscribeSubmit)
	e.GET("/preferences/:token", s.preferencesPage)
	e.POST("/preferences/:token", s.preferencesSubmit)
	e.GET("/archive/:slug", s.archiveIndex) // lists with archive: true
	e.GET("/archive/:slug/feed.atom", s.archiveFeed)
	e.GET("/archive/:slug/:id", s.archiveIssue)
	e.GET("/l/:token", s.click)             // tracked link: signed (delivery, link index)
	e.GET("/o/:token", s.open)              // open pixel
	e.GET("/static/:file", s.staticFile)    // public.css of the pages above
	e.GET("/media/:id/:name", s.serveMedia) // the media library's images, linked from mail

	// Staff workspace: pages under /admin with a session cookie. Every
	// request loads its session once; every POST passes checkCSRF before
	// its handler; signedIn sends anyone else to the sign-in page. The two
	// run as Echo-level middleware limited to /admin rather than on the
	// group: echo v4 gives a group with middleware a catch-all route,
	// which would answer a wrong method with 404 instead of 405.
	e.Use(under("/admin", s.loadSession), under("/admin", s.checkCSRF))
	// Every write to /admin and /api/v1 leaves one audit row (audit.go).
	e.Use(s.audited)
	e.GET("/", func(c echo.Context) error { return redirect(c, "/admin/") })
	e.GET("/admin", func(c echo.Context) error { return redirect(c, "/admin/") })
	web := e.Group("/admin")
	// Write routes: in plus s.webRole(store.RoleEditor) (audience,
	// campaigns) or webAdmin (settings); reading needs only in.
	in := s.signedIn
	webAdmin := s.webRole(store.RoleAdmin)
	web.GET("/static/:file", s.staticFile)
	web.GET("/signin", s.signinPage)
	web.POST("/signin", s.signinSubmit)
	web.POST("/signin/code", s.signinCode)
	web.POST("/signout", s.signout)
	web.GET("/forgot", s.forgotPage)
	web.POST("/forgot", s.forgotSubmit)
	web.GET("/password/:token", s.passwordPage)
	web.POST("/password/:token", s.passwordSubmit)
	web.GET("/", s.overview, in)
	web.GET("/account", s.accountPage, in)
	web.POST("/account", s.accountSubmit, in)
	web.POST("/account/password", s.accountPassword, in)
	web.GET("/account/twofactor", s.twoFactorPage, in)
	web.POST("/account/twofactor", s.twoFactorConfirm, in)
	web.POST("/account/twofactor/off", s.twoFactorOff, in)
	web.POST("/account/twofactor/codes", s.twoFactorCodes, in)
	web.POST("/account/sessions/:id/end", s.accountEndSession, in)
	web.GET("/settings", s.settingsPage, in, webAdmin)
	web.POST("/settings/security", s.securitySubmit, in, webAdmin)
	web.GET("/settings/users", s.usersPage, in, webAdmin)
	web.POST("/settings/users", s.usersInvite, in, webAdmin)
	web.POST("/settings/users/:id/role", s.usersRole, in, webAdmin)
	web.GET("/settings/users/:id/grants", s.usersGrantsPage, in, webAdmin)
	web.POST("/settings/users/:id/grants", s.usersGrantsSave, in, webAdmin)
	web.GET("/settings/users/:id/deactivate", s.usersDeactivatePage, in, webAdmin)
	web.POST("/settings/users/:id/deactivate", s.usersDeactivate, in, webAdmin)
	web.POST("/settings/users/:id/reactivate", s.usersReactivate, in, webAdmin)
	web.POST("/settings/users/:id/invite", s.usersResend, in, webAdmin)
	web.POST("/settings/users/:id/twofactor/reset", s.usersResetTwoFactor, in, webAdmin)
	web.GET("/settings/tokens", s.tokensPage, in, webAdmin)
	web.GET("/audit", s.auditPage, in, webAdmin)
	web.GET("/audit.csv", s.exportAudit, in, webAdmin)
	web.POST("/settings/tokens", s.tokensCreate, in, webAdmin)
	web.POST("/settings/tokens/:id/revoke", s.tokensRevoke, in, webAdmin)
	web.GET("/settings/webhooks", s.webhooksPage, in, webAdmin)
	web.POST("/settings/webhooks", s.webhooksAdd, in, webAdmin)
	web.GET("/settings/webhooks/:id", s.webhookPage, in, webAdmin)
	web.POST("/settings/webhooks/:id/delete", s.webhooksDelete, in, webAdmin)
	web.GET("/settings/sender", s.senderPage, in, webAdmin)
	web.POST("/settings/sender", s.senderSubmit, in, webAdmin)
	web.GET("/settings/domain", s.domainPage, in, webAdmin)
	// Audience (api/web_lists.go, web_subscribers.go, web_imports.go,
	// web_suppressions.go). The downloads are the API's own handlers.
	edit := s.webRole(store.RoleEditor)
	web.GET("/lists", s.listsPage, in)
	web.GET("/lists/new", s.listNewPage, in, edit)
	web.POST("/lists", s.listCreate, in, edit)
	web.GET("/lists/:id", s.listPage, in)
	web.POST("/lists/:id", s.listUpdate, in, edit)
	web.POST("/lists/:id/delete", s.listDelete, in, edit)
	web.GET("/subscribers", s.subscribersPage, in)       // ?q=&list=&status=&after=
	web.GET("/subscribers.csv", s.exportSubscribers, in) // ?list_id=&status=
	web.GET("/subscribers/new", s.personNewPage, in, edit)
	web.POST("/subscribers", s.personCreate, in, edit)
	web.GET("/subscribers/:id", s.personPage, in)
	web.POST("/subscribers/:id", s.personUpdate, in, edit)
	web.GET("/subscribers/:id/export", s.exportPerson, in)
	web.GET("/subscribers/:id/erase", s.personErasePage, in, edit)
	web.POST("/subscribers/:id/erase", s.personErase, in, edit)
	web.GET("/imports", s.importsPage, in)
	web.POST("/imports", s.importUpload, in, edit) // multipart; ?csrf= (see checkCSRF)
	web.GET("/imports/:id", s.importPage, in)      // review before it starts, then progress
	web.POST("/imports/:id/start", s.importStart, in, edit)
	web.POST("/imports/:id/discard", s.importDiscard, in, edit)
	web.GET("/imports/:id/progress", s.getImport, in) // JSON, polled by audience.js
	web.GET("/imports/:id/rejects.csv", s.importRejects, in)
	web.GET("/suppressions", s.suppressionsPage, in) // ?email=&reason=&after=
	web.POST("/suppressions", s.suppressionAdd, in, edit)
	web.POST("/suppressions/remove", s.suppressionRemove, in, edit)
	// Campaigns: the list, the calendar, the editor (web_campaigns.go,
	// web_editor.go, web_send.go); a campaign's own page is /campaigns/:id.
	web.GET("/campaigns", s.campaignsPage, in)
	web.GET("/campaigns/calendar", s.calendarPage, in)
	web.GET("/campaigns/new", s.editorNew, in, edit)
	web.POST("/campaigns/new", s.editorCreate, in, edit)
	web.GET("/campaigns/:id/edit", s.editorPage, in, edit)
	web.POST("/campaigns/:id/edit", s.editorSave, in, edit)
	web.POST("/campaigns/:id/autosave", s.editorAutosave, in, edit)
	web.GET("/campaigns/:id/preview", s.editorPreview, in, edit)
	web.POST("/campaigns/:id/preview", s.editorPreviewDraft, middleware.BodyLimit(previewBodyLimit), in, edit) // the unsaved fields
	web.POST("/campaigns/:id/test", s.editorTest, in, edit)
	web.GET("/campaigns/:id/send", s.sendConfirm, in, edit)
	web.POST("/campaigns/:id/send", s.sendSubmit, in, edit)
	web.GET("/media", s.mediaPage, in)
	web.POST("/media", s.mediaUpload, in, edit) // multipart: the CSRF token in ?csrf=
	web.GET("/media/:id", s.mediaEditPage, in)
	web.POST("/media/:id", s.mediaEditSave, in, edit)
	web.GET("/media/:id/delete", s.mediaDeleteConfirm, in, edit)
	web.POST("/media/:id/delete", s.mediaDeleteSubmit, in, edit)
	// Following and reporting on a campaign (web_reports.go).
	web.GET("/campaigns/:id", s.campaignPage, in)
	// Four eyes: the buttons of _approval.html; the store decides who may.
	web.POST("/campaigns/:id/approve", s.webApprove, in, edit)
	web.POST("/campaigns/:id/reject", s.webReject, in, edit)
	web.GET("/campaigns/:id/progress", s.campaignProgress, in) // JSON for reports.js
	web.GET("/campaigns/:id/report", s.campaignReport, in)
	web.GET("/campaigns/:id/deliveries.csv", s.campaignDeliveriesCSV, in)
	web.GET("/campaigns/:id/confirm/:action", s.campaignConfirm, in, edit)
	for _, a := range []string{actionPause, actionResume, actionCancel, actionRetry, actionDuplicate} {
		web.POST("/campaigns/:id/"+a, s.campaignControl(a), in, edit)
	}
	web.GET("/lists/:id/report", s.listReport, in)
	web.GET("/reports/monthly", s.monthlyReport, in)

	// The staff API, described by api/openapi.yaml; the description itself
	// needs no token, so that tools can fetch it.
	e.GET("/api/v1/openapi.json", s.openAPI)
	// Each route authenticates (staff), for the same reason as above.
	v1 := e.Group("/api/v1")
	read := s.staff(store.RoleViewer)
	write := s.staff(store.RoleEditor)
	admin := s.staff(store.RoleAdmin)

	v1.GET("/lists", s.listLists, read)
	v1.POST("/lists", s.createList, write)
	v1.GET("/lists/:id", s.getList, read)
	v1.PATCH("/lists/:id", s.updateList, write)
	v1.DELETE("/lists/:id", s.deleteList, write)
	v1.GET("/lists/:id/stats", s.listStats, read)

	v1.GET("/subscribers", s.listSubscribers, read)
	v1.POST("/subscribers", s.createSubscriber, write)
	v1.GET("/subscribers/:id", s.getSubscriber, read)
	v1.PATCH("/subscribers/:id", s.updateSubscriber, write)
	v1.DELETE("/subscribers/:id", s.deleteSubscriber, write)
	v1.GET("/subscribers/:id/events", s.subscriberEvents, read)
	v1.GET("/subscribers.csv", s.exportSubscribers, read, s.auditRead("subscriber.export", "list")) // ?list_id=&status=
	v1.GET("/subscribers/:id/export", s.exportPerson, read, s.auditRead("subscriber.export_person", "subscriber"))
	v1.POST("/subscribers/:id/erase", s.erasePerson, write)

	v1.GET("/suppressions", s.listSuppressions, read) // ?reason=&email=&after=
	v1.POST("/suppressions", s.createSuppression, write)
	v1.DELETE("/suppressions", s.deleteSuppression, write) // ?email=

	v1.GET("/imports", s.listImports, read)
	v1.POST("/imports", s.createImport, write) // multipart: options, then file
	v1.GET("/imports/:id", s.getImport, read)
	v1.GET("/imports/:id/rejects.csv", s.importRejects, read)

	v1.GET("/campaigns", s.listCampaigns, read)
	v1.POST("/campaigns", s.createCampaign, write)
	v1.GET("/campaigns/:id", s.getCampaign, read)
	v1.PATCH("/campaigns/:id", s.updateCampaign, write)
	v1.DELETE("/campaigns/:id", s.deleteCampaign, write)
	v1.POST("/campaigns/:id/send", s.scheduleCampaign, write)
	v1.POST("/campaigns/:id/test", s.testCampaign, write)
	v1.POST("/campaigns/:id/lint", s.lintCampaignHandler, read)
	v1.GET("/campaigns/:id/preview", s.previewCampaign, read)
	v1.GET("/campaigns/:id/stats", s.campaignStats, read)
	v1.GET("/campaigns/:id/deliveries", s.campaignDeliveries, read)
	v1.POST("/campaigns/:id/pause", s.controlHandler(actionPause), write)
	v1.POST("/campaigns/:id/resume", s.controlHandler(actionResume), write)
	v1.POST("/campaigns/:id/cancel", s.controlHandler(actionCancel), write)
	v1.POST("/campaigns/:id/retry-failed", s.controlHandler(actionRetry), write)
	v1.POST("/campaigns/:id/duplicate", s.controlHandler(actionDuplicate), write)
	v1.GET("/campaigns/:id/approval", s.campaignApproval, read)
	v1.POST("/campaigns/:id/approve", s.approveCampaign, write)
	v1.POST("/campaigns/:id/reject", s.rejectCampaign, write)

	v1.GET("/media", s.listMedia, read)
	v1.POST("/media", s.createMedia, write) // multipart: file
	v1.GET("/media/:id", s.getMedia, read)
	v1.PATCH("/media/:id", s.updateMedia, write)
	v1.DELETE("/media/:id", s.deleteMedia, write)

	v1.GET("/templates", s.listTemplates, read)
	v1.POST("/templates", s.createTemplate, write)
	v1.GET("/templates/:id", s.getTemplate, read)
	v1.PATCH("/templates/:id", s.updateTemplate, write)
	v1.DELETE("/templates/:id", s.deleteTemplate, write)
	v1.POST("/templates/:id/preview", s.previewTemplate, read)

	v1.POST("/inbound", s.receiveInbound, write)

	v1.GET("/webhooks", s.listWebhooks, admin)
	v1.POST("/webhooks", s.createWebhook, admin)
	v1.DELETE("/webhooks/:id", s.deleteWebhook, admin)
	v1.GET("/webhooks/:id/deliveries", s.webhookDeliveries, admin)

	v1.GET("/settings/sender", s.getSender, admin)
	v1.PUT("/settings/sender", s.putSender, admin)
	v1.GET("/settings/security", s.getSecurity, admin)
	v1.PUT("/settings/security", s.putSecurity, admin)

	v1.GET("/tokens", s.listTokens, admin)
	v1.POST("/tokens", s.createToken, admin)
	v1.DELETE("/tokens/:id", s.deleteToken, admin)

	v1.GET("/audit", s.listAudit, admin)
	v1.GET("/audit.csv", s.exportAudit, admin)
	v1.GET("/users/:id/grants", s.getGrants, admin)
	v1.PUT("/users/:id/grants", s.putGrants, admin)
	v1.DELETE("/users/:id/twofactor", s.resetTwoFactor, admin)
}
