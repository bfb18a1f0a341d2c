package store

import (
	"context"

	"gorm.io/gorm"
)

// The checks below are the one place the list grants are enforced: the
// JSON API and the web pages call the same store functions, which ask
// them. What the actor may not see is ErrNotFound (as if it did not
// exist); what it may see but not do is ErrForbidden.

// visibleCampaign reports whether acc may see campaign c: it needs the
// viewer role on every list of the campaign; a campaign without lists is
// seen by anyone who may write campaigns.
func visibleCampaign(acc *Access, listIDs []int64) bool {
	if acc == nil {
		return true
	}
	if len(listIDs) == 0 {
		return acc.Any(GrantAuthor) || acc.Global(GrantViewer)
	}
	return acc.CanAll(listIDs, GrantViewer)
}

// campaignFor loads campaign id with tx and checks that the actor of ctx
// may see it and act on it as role.
func (s *Store) campaignFor(ctx context.Context, tx *gorm.DB, id int64, role string) (*Campaign, error) {
	c, err := s.campaign(tx, id)
	if err != nil {
		return nil, err
	}
	acc := AccessFrom(ctx)
	if !visibleCampaign(acc, c.ListIDs) {
		return nil, notFound("campaign", id)
	}
	if role != GrantViewer {
		if len(c.ListIDs) == 0 && !acc.Any(role) || !acc.CanAll(c.ListIDs, role) {
			return nil, forbiddenf("your role on the campaign's lists may not %s", roleVerb(role))
		}
	}
	return c, nil
}

func roleVerb(role string) string {
	switch role {
	case GrantAuthor:
		return "edit or test it"
	case GrantPublisher:
		return "approve, send, pause or cancel it"
	case GrantAudience:
		return "change its subscribers"
	}
	return "read it"
}

// CheckCampaign tells whether the actor of ctx may act on campaign id as
// role (GrantAuthor: edit and test; GrantPublisher: send): ErrNotFound
// when it may not even see it, ErrForbidden when it may not act.
func (s *Store) CheckCampaign(ctx context.Context, id int64, role string) (*Campaign, error) {
	return s.campaignFor(ctx, s.reader(ctx), id, role)
}

// checkListsFor checks that the actor holds role on every list of ids:
// a list it may not see is named as not found.
func checkListsFor(ctx context.Context, ids []int64, role string) error {
	acc := AccessFrom(ctx)
	if acc == nil {
		return nil
	}
	if len(ids) == 0 && role != GrantViewer && !acc.Any(role) {
		return forbiddenf("your roles may not %s", roleVerb(role))
	}
	for _, id := range ids {
		if !acc.Can(id, GrantViewer) {
			return notFound("list", id)
		}
	}
	for _, id := range ids {
		if !acc.Can(id, role) {
			return forbiddenf("your role on list %d may not %s", id, roleVerb(role))
		}
	}
	return nil
}

// requireGlobal refuses an action on what belongs to no list (a new list,
// the suppression list) to an actor without role over every list.
func requireGlobal(ctx context.Context, role, what string) error {
	if !AccessFrom(ctx).Global(role) {
		return forbiddenf("only an admin may %s", what)
	}
	return nil
}

// scopeSubscribers narrows a query on subscribers to those on a list the
// actor may see with role.
func scopeSubscribers(ctx context.Context, tx *gorm.DB, role string) *gorm.DB {
	ids, all := AccessFrom(ctx).listIDs(role)
	if all {
		return tx
	}
	if len(ids) == 0 {
		return tx.Where("1 = 0")
	}
	return tx.Where("EXISTS (SELECT 1 FROM subscriptions vs WHERE vs.subscriber_id = subscribers.id AND vs.list_id IN ?)", ids)
}

// subscriberFor checks that the actor may see subscriber id (it is on a
// list the actor may see) and, for a change, holds role on every list
// the person is on or is put on (lists).
func (s *Store) subscriberFor(ctx context.Context, tx *gorm.DB, id int64, role string, lists []int64) error {
	acc := AccessFrom(ctx)
	if acc == nil || acc.Global(role) {
		return nil
	}
	var on []int64
	if err := tx.Model(&Subscription{}).Where("subscriber_id = ?", id).Pluck("list_id", &on).Error; err != nil {
		return err
	}
	seen := false
	for _, l := range on {
		seen = seen || acc.Can(l, GrantViewer)
	}
	if !seen {
		return notFound("subscriber", id)
	}
	if role == GrantViewer {
		return nil
	}
	// A change must not touch a list the actor may not manage: the
	// person's other lists stay as they are unless named in lists.
	for _, l := range lists {
		if !acc.Can(l, role) {
			if !acc.Can(l, GrantViewer) {
				return notFound("list", l)
			}
			return forbiddenf("your role on list %d may not %s", l, roleVerb(role))
		}
	}
	if len(lists) == 0 {
		for _, l := range on {
			if !acc.Can(l, role) {
				return forbiddenf("the person is also on list %d, which your role may not change", l)
			}
		}
	}
	return nil
}
