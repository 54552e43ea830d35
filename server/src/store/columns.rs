//! SQL the store's modules share: the columns an entry is read with.

/// Columns of an entry with its writer's name and its couple's members.
macro_rules! entry_select {
    ($rest:literal) => {
        concat!(
            "SELECT en.id, en.couple_id, en.author_id, u.display_name AS author_name, en.kind, en.body, \
             en.reply_to, en.created_at, en.updated_at, en.shared_partner_at, en.shared_therapist_at, \
             c.partner_a, c.partner_b \
             FROM entries en JOIN users u ON u.id = en.author_id LEFT JOIN couples c ON c.id = en.couple_id ",
            $rest
        )
    };
}
pub(crate) use entry_select;
